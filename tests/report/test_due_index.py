"""The reporter's poll reads only the jobs still due, through the partial index of migration
0004, on both databases; and the index holds exactly the due jobs."""

from __future__ import annotations

from sqlalchemy import Connection, text, update

from foredeck.db import Job
from foredeck.db.engine import write_lock
from foredeck.report.queries import ReportStore, due_query
from tests.db.fixtures import Database
from tests.report.jobs import add, presubmit


def _plan(conn: Connection, dialect: str) -> str:
    sql = str(
        due_query(0, 100).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    )
    if dialect == "sqlite":
        return " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    # A handful of rows: let the planner show that the index *can* answer the query.
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return " ".join(str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


def test_due_query_reads_the_partial_index(db: Database) -> None:
    ids = [add(db.engine, presubmit(f"job-{i}")) for i in range(6)]
    with write_lock(db.engine), db.engine.begin() as conn:
        # Reported: done; suppressed: never due; the others: due.
        conn.execute(update(Job).where(Job.id.in_(ids[:3])).values(reported_state=Job.state))
        conn.execute(update(Job).where(Job.id == ids[3]).values(suppress_report=True))
    due = ReportStore(db.engine).due(0, 100)
    assert [j.id for j in due] == ids[4:]
    with db.engine.begin() as conn:
        plan = _plan(conn, db.engine.dialect.name)
        assert "ix_jobs_unreported" in plan, plan
        if db.engine.dialect.name == "sqlite":
            indexed = conn.execute(
                text(
                    "SELECT count(*) FROM jobs INDEXED BY ix_jobs_unreported"
                    " WHERE reported_state IS NOT state AND suppress_report IS 0"
                )
            ).scalar_one()
            assert indexed == 2
