"""Who is calling and what they may do: principals, personal API tokens, role decisions from
the roles file (`foredeck.config.roles`) and the audit log (docs/access.md).

A request's `Principal` comes from a bearer token (the bootstrap `api.token` or a personal
`fdt_` token, in the header or in the dashboard's session cookie). A login through an OIDC
provider or GitHub (`access.login`) ends in a session token of the user with the groups or
teams the provider gave, so it is read the same way.
"""

from foredeck.access.principal import ANONYMOUS, Access, Principal, Via

__all__ = ["ANONYMOUS", "Access", "Principal", "Via"]
