"""No task can hang a day: every task of every DAG has an execution timeout."""

from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_every_task_has_an_execution_timeout() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {} and bag.dags
    for dag in bag.dags.values():
        for task in dag.tasks:
            timeout = task.execution_timeout
            assert timeout is not None and timeout.total_seconds() > 0, (dag.dag_id, task.task_id)
