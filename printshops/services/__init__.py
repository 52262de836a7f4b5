"""Writes for print shops (STYLE.md: `<entity>_<verb>`), by topic: the shop and its keys
(shops.py), sealed bids (bids.py), design releases, licences and print tickets (releases.py),
production events and quality measurements (production.py), certificates (certificates.py)."""

from printshops.services.bids import (
    BID_ELIGIBILITY_FIELDS,
    BidCommit,
    bid_commit,
    bid_eligibility_problems,
    bid_reveal,
    bids_commit,
)
from printshops.services.certificates import certificates_issue
from printshops.services.production import (
    PartEntry,
    evidence_upload,
    part_record_add,
    part_records_add,
)
from printshops.services.releases import (
    licence_close,
    licence_id,
    licence_open,
    print_ticket_take,
)
from printshops.services.shops import (
    KEY_CHALLENGE_LIFETIME,
    ShopCapabilities,
    api_key_create,
    api_key_revoke,
    require_shop,
    shop_key_challenge_create,
    shop_keys_register,
    shop_profile_update,
    shop_unverify,
    shop_verify,
)

__all__ = [
    "BID_ELIGIBILITY_FIELDS",
    "KEY_CHALLENGE_LIFETIME",
    "BidCommit",
    "PartEntry",
    "ShopCapabilities",
    "api_key_create",
    "api_key_revoke",
    "bid_commit",
    "bid_eligibility_problems",
    "bid_reveal",
    "bids_commit",
    "certificates_issue",
    "evidence_upload",
    "licence_close",
    "licence_id",
    "licence_open",
    "part_record_add",
    "part_records_add",
    "print_ticket_take",
    "require_shop",
    "shop_key_challenge_create",
    "shop_keys_register",
    "shop_profile_update",
    "shop_unverify",
    "shop_verify",
]
