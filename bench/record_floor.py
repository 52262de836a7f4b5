"""The floor of bench/records.py's single quality record: the least a record can cost on this
stack, served beside the baseline by bench/bids_urls.py (not in the product's URLs).

The baseline's work (API-key authentication, permission, throttle, the JSON body parsed), the
measurement validated and its pass or fail computed (printfair.production.validate_quality), and
a record's rows written as the product writes them (the PartRecord with the part's next number,
its RecordLeaf with the record's canonical and Merkle leaf hashes, of the content
printshops.records defines, made from unsaved instances; its audit event), by hand, in
two round trips of psycopg's pipeline mode: the order locked and the part's last number and
ticket read (in two statements, the second after the lock, so that the number is the latest);
then the three rows in one prepared statement, and the commit. No ORM, no serializer: it skips
the product's checks of the order's state, the times and the evidence, and its answer, so it is
a bound no implementation of the product's record can beat, not a second implementation.
tests/printshops/test_record_floor.py checks that its rows are a record's."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
from django.db import connection
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.models import Order
from printfair.canonical import record_hash
from printfair.merkle import record_leaf
from printfair.production import RecordInvalid, validate_quality
from printshops.models import ApiKey, PartRecord
from printshops.records import part_record_content
from printshops.services.production import part_scope

LOCK_SQL = """
SELECT id FROM marketplace_order
WHERE job_id = %(job)s AND shop_id = %(shop)s AND status IN ('funded', 'delivered', 'disputed')
FOR UPDATE
"""
# Read once the lock is held: a statement's snapshot is taken when it starts.
LAST_SQL = """
SELECT o.id,
    (SELECT max(seq) FROM printshops_partrecord r
        WHERE r.order_id = o.id AND r.part_serial = %(serial)s),
    EXISTS (SELECT 1 FROM printshops_printticket t JOIN printshops_licence l ON l.id = t.licence_id
        WHERE l.order_id = o.id AND t.part_serial = %(serial)s)
FROM marketplace_order o WHERE o.job_id = %(job)s AND o.shop_id = %(shop)s
"""
WRITE_SQL = """
WITH record AS (
    INSERT INTO printshops_partrecord (
        id, order_id, part_serial, seq, kind, occurred_at, data, characteristic, passed,
        created_by_id, created_at
    )
    VALUES (
        %(id)s, %(order)s, %(serial)s, %(seq)s, 'quality', %(now)s, %(data)s::jsonb,
        %(characteristic)s, %(passed)s, %(actor)s, %(now)s
    )
    RETURNING id
), leaf AS (
    INSERT INTO ledger_recordleaf (
        kind, record_id, record_hash, leaf_hash, proof, scope, created_at
    )
    SELECT 'part_record', record.id::text, %(record_hash)s, %(leaf_hash)s, '[]', %(scope)s,
        %(now)s
    FROM record
), audit AS (
    INSERT INTO marketplace_auditevent (
        verb, target_type, target_id, data, actor_id, organization_id, created_at
    )
    SELECT 'part_record.quality', 'printshops.partrecord', record.id::text, %(audit)s::jsonb,
        %(actor)s, %(shop)s, %(now)s
    FROM record
)
SELECT id FROM record
"""


class RecordFloorApi(APIView):
    def post(self, request: Request, job_id: int) -> Response:
        key: ApiKey = request.auth  # type: ignore[assignment]
        given: Any = request.data
        serial = given.pop("part_serial")
        try:
            clean = validate_quality(given)
        except RecordInvalid as exc:
            return Response({"invalid": exc.fields}, status=400)
        passed = clean.pop("passed") is True  # validate_quality computes it: a bool
        params: dict[str, Any] = {"job": job_id, "shop": key.organization_id, "serial": serial}
        connection.ensure_connection()
        conn = connection.connection
        with conn.pipeline(), conn.transaction(), psycopg.Cursor(conn) as cursor:
            cursor.execute(LOCK_SQL, params, prepare=True)
            cursor.execute(LAST_SQL, params, prepare=True)
            found = cursor.fetchone()
            if found is None or not found[2]:
                return Response({"refused": "no order, or no ticket for the part"}, status=409)
            order, last, _ = found
            now, record_id = timezone.now(), uuid.uuid4()
            record = PartRecord(
                id=record_id,
                order=Order(id=order, job_id=job_id, shop_id=key.organization_id),
                part_serial=serial,
                seq=(last or 0) + 1,
                kind=PartRecord.Kind.QUALITY,
                occurred_at=now,
                data=clean,
                characteristic=clean["characteristic"],
                passed=passed,
                created_at=now,
            )
            digest = record_hash(part_record_content(record, evidence=()))
            params |= {
                "id": record_id,
                "order": order,
                "seq": record.seq,
                "now": now,
                "data": json.dumps(clean),
                "characteristic": clean["characteristic"],
                "passed": passed,
                "actor": request.user.pk,
                "record_hash": "0x" + digest.hex(),
                "leaf_hash": "0x" + record_leaf(digest).hex(),
                "scope": part_scope(record.order, serial),
                "audit": json.dumps({"part_serial": serial}),
            }
            cursor.execute(WRITE_SQL, params, prepare=True)
        return Response({"id": str(record_id), "seq": record.seq}, status=201)
