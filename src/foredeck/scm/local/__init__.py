"""The `local` SCM provider: repositories on disk instead of GitHub.

Layout: `<scm.local_root>/ORG/REPO` is a git repository (with a work tree, or bare; a bare
`ORG/REPO.git` is found too). Pull request N of ORG/REPO is the branch `pr/N`, exactly (no
suffix: `pr/7-fix` is an ordinary branch), against `scm.local_base_branch`. It is open while
the branch exists; its author and title are those of the first commit on the branch that is not
on the base (`git log base..pr/N`), the author's login being the local part of their e-mail.

Trust: everything on this disk belongs to whoever can write to it, so every user is an org
member and a collaborator with `write` permission. Web links point at foredeck's own dashboard.

The modules, bottom up:
- `names`: what ORG, REPO, branch, path and login arguments may be, and `LocalScmError`;
- `repos`: read-only git queries on the repositories (`LocalRepos`);
- `labels`: labels in one JSON file, `<local_root>/.foredeck-labels.json`;
- `pulls`: GitHub-shaped users, repositories, pull requests and comments (`LocalPulls`);
- `state`: commit statuses and comments in foredeck's database (`scm_statuses`,
  `scm_comments`), written by a writer thread;
- `pullmeta`: the head branch, title and body of pull requests opened through the client, in
  `<local_root>/.foredeck-pulls.json`;
- `writes`: opening, updating and closing pull requests, and a checkout pushed with git;
- `client`: `LocalScm`, the `ScmClient` over all of the above;
- `events` and `watch`: GitHub-shaped webhook events from the repositories (`LocalWatcher`),
  and `comments`: a user's comment with its `issue_comment` event;
- `provider`: `LocalProvider`, what `foredeck.scm.providers` builds for `scm.provider: local`.
"""
