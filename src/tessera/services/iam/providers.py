"""What the calls on an identity provider (OpenID Connect or SAML) share once its ARN is
resolved: authorization on the provider's ARN with its tags as ``aws:ResourceTag/…``, the
record the view resolved (Get…), and the record re-read inside the write, refused when it
is no longer the one authorized. Each kind keeps its own messages (``ProviderKind``)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tessera.errors import ConcurrentModificationException, EntityAlreadyExistsException, NoSuchEntityException
from tessera.services import records as R
from tessera.services.iam.entities import ensure_quota
from tessera.services.iam.tags import resource_tag_context
from tessera.services.request import OperationContext
from tessera.store.base import Conflict, Transaction

Rec = TypeVar("Rec", R.OidcProviderRecord, R.SamlProviderRecord)


@dataclass(frozen=True, slots=True)
class Provider(Generic[Rec]):
    """A provider a request names by ARN, resolved before authorization (as
    ``entities.Target`` for users): ``key`` is its key in the store, ``arn`` the ARN it is
    authorized on (the stored one when the provider exists), ``record`` the view's record
    (None when absent)."""

    key: str
    arn: str
    record: Rec | None


@dataclass(frozen=True, slots=True)
class ProviderKind(Generic[Rec]):
    """One kind of provider: its store ``kind`` and typed ``load``, its NoSuchEntity,
    whether a stored record is still ``same`` as the one authorized, and the
    ConcurrentModification when it is not."""

    kind: str
    load: Callable[[Mapping[str, Any]], Rec]
    not_found: Callable[[Provider[Rec]], NoSuchEntityException]
    same: Callable[[Rec, Rec], bool]
    changed: Callable[[Provider[Rec], Rec], ConcurrentModificationException]

    def authorize(self, ctx: OperationContext, action: str, provider: Provider[Rec], extra: Mapping[str, object] | None = None) -> None:
        tags = provider.record["tags"] if provider.record is not None else []
        ctx.authorize(action, provider.arn, context={**resource_tag_context(tags), **(extra or {})})

    def require_resolved(self, provider: Provider[Rec]) -> Rec:
        if provider.record is None:
            raise self.not_found(provider)
        return provider.record

    def insert(self, ctx: OperationContext, account: str, key: str, rec: Rec, quota: tuple[int, str], exists: str) -> None:
        """Store a new provider under ``key`` in one write: LimitExceeded past ``quota``
        (the limit and its name), EntityAlreadyExists saying ``exists`` when ``key`` is
        taken."""
        limit, name = quota
        with ctx.write(account) as tx:
            ensure_quota(tx.count(account, self.kind), limit, name)
            try:
                tx.insert(account, self.kind, key, rec)
            except Conflict as e:
                raise EntityAlreadyExistsException(exists) from e

    def require(self, tx: Transaction, account: str, provider: Provider[Rec]) -> Rec:
        """A mutable copy of the provider read inside ``tx``: NoSuchEntity when absent,
        ConcurrentModification when it is no longer the provider that was authorized
        (created again since, or its tags changed)."""
        authorized = provider.record
        found = tx.get(account, self.kind, provider.key) if authorized is not None else None
        if authorized is None or found is None:
            raise self.not_found(provider)
        rec = self.load(copy.deepcopy(dict(found.data)))
        if not self.same(rec, authorized):
            raise self.changed(provider, authorized)
        return rec
