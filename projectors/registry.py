"""Every projection the projector workers run, by name."""

from __future__ import annotations

from projectors import accounts
from projectors.projection import DocumentProjection

PROJECTIONS: dict[str, DocumentProjection] = {
    projection.name: projection for projection in (accounts.PROJECTION,)
}
