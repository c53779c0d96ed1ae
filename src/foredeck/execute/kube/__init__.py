"""Remote executors: a pipeline run as an Argo `Workflow` or a Tekton `PipelineRun` on a cluster.

`executor.py` holds the `argo` and `tekton` executors the controller picks by a job's agent
(decoration, then `run_remote` of `runner.py`, which has the local executor's outputs).
"""
