"""Which ``VarSet`` events the simulator emits (the rest of Asterisk's are left out)."""

from __future__ import annotations

# Variables the simulator reports with VarSet (the rest of Asterisk's VarSet noise is not
# emitted; see README.md). Inherited ``__`` variables are reported on the legs they reach.
EMITTED_VARSETS = frozenset(
    {
        "MIXMONITOR_FILENAME", "BACKGROUNDSTATUS", "RING", "IVR_CHOICE", "CC_NOTE", "AGISTATUS",
        # our Originates' tags (capture 21: VarSet on the originated channel)
        "CC_KIND", "CC_CALLBACK_ID", "CC_CUSTOMER_ID", "CC_OPERATOR", "CC_NUMBER",
        # campaigns: [cc-campaign] and AMD()
        "AMDSTATUS", "AMDCAUSE",
    }
)  # fmt: skip


def reports_varset(name: str) -> bool:
    """Whether a VarSet of ``name`` is one the simulator emits."""
    return name.startswith("__") or name in EMITTED_VARSETS
