"""Every DAG file imports cleanly and the DAGs are chained by Assets."""

from pathlib import Path

from grassroots.loading.contracts import all_contracts
from grassroots.local import pipeline

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_dagbag_has_no_import_errors_and_all_dags() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert {"grassroots_ingest", "grassroots_warehouse", "grassroots_scoring"} <= set(bag.dags)
    ingest = bag.dags["grassroots_ingest"]
    feeds = all_contracts()
    per_feed = {f"{step}_{feed}" for feed in feeds for step in ("wait", "load", "validate")}
    assert {t.task_id for t in ingest.tasks} == per_feed | {"bootstrap", "close_day", "all_feeds_loaded"}
    # close_day waits for every validation, whatever its outcome, so the warehouse hears of every day.
    close = ingest.get_task("close_day")
    assert close.upstream_task_ids == {f"validate_{feed}" for feed in feeds}
    assert close.trigger_rule == "all_done"
    for dag in bag.dags.values():
        assert dag.default_args["retries"] >= 2 and dag.doc_md
        # Every DAG starts with the bootstrap setup task; the other tasks work as roles that cannot create schemas.
        setup = dag.get_task("bootstrap")
        assert setup.is_setup and not setup.upstream_task_ids
        assert setup.get_flat_relative_ids(upstream=False) == {t.task_id for t in dag.tasks} - {"bootstrap"}


def test_run_order_follows_assets_not_clock() -> None:
    dags = pipeline.load_dags(DAGS)
    order = pipeline.run_order(dags)
    assert order.index("grassroots_ingest") < order.index("grassroots_warehouse") < order.index("grassroots_scoring")
    # The warehouse waits for the day's deliveries as a whole (complete or not), not for each feed's Asset.
    consumed = pipeline._consumed(dags["grassroots_warehouse"])
    assert consumed == {"grassroots://warehouse/deliveries"}
    assert consumed <= pipeline._produced(dags["grassroots_ingest"])
    assert pipeline._consumed(dags["grassroots_scoring"]) <= pipeline._produced(dags["grassroots_warehouse"])
