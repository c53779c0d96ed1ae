"""Remote executors: a pipeline run as an Argo `Workflow` or a Tekton `PipelineRun` on a cluster.

`run_remote` (in `runner.py`) has the local executor's shape, so the controller can pick an
executor by the job's `agent`.
"""
