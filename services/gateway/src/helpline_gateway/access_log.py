"""The append-only access log: who read which report, transcript or score, and when.

One object per entry, never overwritten (a fresh uuid in the key), so concurrent replicas never
conflict. Entries name the subject of the token and the object read; nothing about the call's content.
"""

from __future__ import annotations

import datetime as dt
import uuid

from helpline_common import layout
from helpline_common.auth import Principal
from helpline_common.storage import ObjectStore


def record(store: ObjectStore, who: Principal, action: str, target: str) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    entry_id = uuid.uuid4().hex
    store.put_json(layout.access_log_key(now, entry_id), {
        "at": now.isoformat(), "subject": who.subject, "role": who.role.value, "action": action, "target": target,
    })
