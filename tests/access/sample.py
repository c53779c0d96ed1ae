"""A roles file with a `clusters:` section, shared by the render and apply tests."""

from __future__ import annotations

from pathlib import Path

ALICE_ARN = "arn:aws:iam::111122223333:user/alice"
TEAM_ARN = "arn:aws:iam::111122223333:role/ci-maintainers"
NODE_ARN = "arn:aws:iam::111122223333:role/nodes"

ROLES = f"""\
anonymous:
  "*": read
grants:
- role: admin
  repos: ["*"]
  users: [alice]
- role: editor
  repos: [acme/*]
  teams: [acme/ci-maintainers]
  groups: [ci-editors]
- role: viewer
  repos: [acme/widget]
  users: [vera, Alice]
subjects:
  users:
    alice: {{kube: alice@example.org, aws: ["{ALICE_ARN}"]}}
  teams:
    acme/ci-maintainers: {{aws: ["{TEAM_ARN}"]}}
clusters:
- name: ci
  context: ci-prod
  eks: {{cluster: ci-prod, region: us-east-1, node_roles: ["{NODE_ARN}"]}}
  namespaces:
  - name: ci
  - name: acme
    repos: [acme/*]
  - name: widget
    repos: [acme/widget]
- name: test
  group_prefix: "oidc:"
  namespaces: [{{name: tests, repos: [acme/*]}}]
"""


def write_roles(tmp_path: Path, text: str = ROLES) -> Path:
    path = tmp_path / "roles.yaml"
    path.write_text(text)
    return path
