"""What a certificate of conformance says: plain data the caller builds from the database
(printshops/views/certificates.py), so rendering needs no database and the same view always renders
to the same bytes. The sentences a certificate states about its verdict are made here, once,
for the HTML page and the PDF alike; the verdict itself is printshops.quality.part_verdict's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from printshops.quality import Result


@dataclass(frozen=True)
class CertificateMeasurement:
    """One quality record of the part; `passed` is that measurement's own result."""

    characteristic: str
    unit: str
    nominal: str
    tolerance_minus: str
    tolerance_plus: str
    measured: str
    instrument: str
    passed: bool
    measured_at: datetime
    record_hash: str  # 0x…
    anchor: str  # e.g. "block 1234 on chain 31337, tx 0xabc…" or "not anchored when this …"


@dataclass(frozen=True)
class CertificateCharacteristic:
    """One characteristic's verdict (printshops.quality.part_verdict): decided by its latest
    measurement (None when it was not measured); the earlier ones, oldest first, were superseded
    by a retest and are shown, not counted."""

    characteristic: str
    status: str  # a printshops.quality.Result of a characteristic
    latest: CertificateMeasurement | None
    superseded: list[CertificateMeasurement]

    @property
    def passed(self) -> bool:
        return self.status == Result.PASSED

    @property
    def rows(self) -> list[tuple[CertificateMeasurement, bool]]:
        """(measurement, superseded) in the order shown: the deciding one first, then the ones
        it superseded, newest first."""
        latest = [(self.latest, False)] if self.latest is not None else []
        return [*latest, *((m, True) for m in reversed(self.superseded))]

    @property
    def reason(self) -> str:
        """Why it does not pass, in a few words ("" when it passes)."""
        if self.status == Result.PASSED:
            return ""
        if self.status == Result.NOT_MEASURED:
            return "not measured"
        if self.status == Result.ALTERED:
            return "changed since it was anchored"
        return "out of tolerance"


@dataclass(frozen=True)
class CertificateEvent:
    """One production event of the part."""

    kind_label: str
    occurred_at: datetime
    summary: str
    record_hash: str
    anchor: str
    #: "reported by the shop", or "machine-attested: …" for what the machine signed.
    reported_by: str = "reported by the shop"


@dataclass(frozen=True)
class CertificateView:
    """Everything a certificate shows, already read and formatted by the caller."""

    certificate_id: str
    part_serial: str
    job_id: int
    job_title: str
    customer: str
    shop: str
    process: str
    material: str
    machine: str  # "" when not reported
    material_lot: str  # "" when not reported
    designs: list[tuple[str, str]]  # (file name, sha256 hex)
    verdict: str  # a printshops.quality.Result of a part
    characteristics: list[CertificateCharacteristic]
    events: list[CertificateEvent]
    issued_at: datetime
    certificate_hash: str
    certificate_anchor: str
    verify_url: str  # absolute URL of the public /verify/<id>/ page
    chain_id: int | None
    anchor_contract: str | None
    # Whether every anchor (the certificate's and its records') was final when the view was
    # made: a copy made before says where to look for the current state.
    anchors_final: bool = True

    @property
    def measurements(self) -> list[CertificateMeasurement]:
        """Every measurement listed, in the order shown."""
        return [m for item in self.characteristics for m, _ in item.rows]

    @property
    def superseded(self) -> int:
        return sum(len(item.superseded) for item in self.characteristics)

    @property
    def result(self) -> str:
        """The result banner's sentence."""
        total = len(self.characteristics)
        noun = "characteristic" if total == 1 else "characteristics"
        if self.verdict == Result.NO_MEASUREMENTS:
            return "No measurements were recorded for this part."
        if self.verdict == Result.PASSED:
            text = (
                f"Result: PASS \u2014 {total} {noun}, each within tolerance at its latest "
                "measurement."
            )
            if self.superseded:
                earlier = self.superseded
                text += (
                    f" {earlier} earlier measurement{'s' if earlier > 1 else ''}, superseded by a "
                    f"retest, {'are' if earlier > 1 else 'is'} listed and not counted."
                )
            return text
        failing = [item for item in self.characteristics if not item.passed]
        reasons = "; ".join(f"{item.characteristic}: {item.reason}" for item in failing)
        return (
            f"Result: FAIL \u2014 {len(failing)} of {total} {noun} not passing at the latest "
            f"measurement ({reasons})."
        )

    @property
    def pending_note(self) -> str:
        """What a copy made before every anchor was final says instead of freezing the state."""
        if self.anchors_final:
            return ""
        return (
            "Anchoring was still under way when this copy was made, and a printed or saved copy "
            "does not update: scan the QR code or open " + self.verify_url + " to see each "
            "anchor's current state."
        )
