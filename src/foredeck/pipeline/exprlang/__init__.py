"""Safe evaluators for Argo's expression languages: expr-lang (`{{=...}}`) and govaluate (`when`).

No Python `eval`: a lexer and parser build a tree, an interpreter walks it within a `Budget` of
steps and time, with bounded strings and lists (`limits.py`). `check` is the load-time half
(syntax, unknown functions, argument counts), `evaluate` the run-time half.

Modules: `lexer`, `parser` and `nodes` (syntax), `evaluate` and `predicates` (the interpreter),
`registry`, `builtins`, `argo_functions`, `sprig`, `sprig_data` (functions), `govaluate` (`when`),
`embed` and `chains` (expressions inside IR values), `api` (the entry points). Importing the
package itself loads nothing, so that runs without expressions do not pay for them.
"""
