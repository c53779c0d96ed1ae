"""Who is calling and what they may do: principals, personal API tokens, role decisions from
the roles file (`foredeck.config.roles`) and the audit log (docs/access.md).

A request's `Principal` comes from a bearer token today (the bootstrap `api.token` or a
personal `fdt_` token, in the header or in the dashboard's session cookie); a login (OIDC,
GitHub OAuth) plugs in by producing a `Principal` with the user's teams and groups.
"""

from foredeck.access.principal import ANONYMOUS, Access, Principal, Via

__all__ = ["ANONYMOUS", "Access", "Principal", "Via"]
