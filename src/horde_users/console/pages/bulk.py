"""The bulk page."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from horde_users.console.web import require_csrf

router = APIRouter(dependencies=[Depends(require_csrf)])
