"""One file per scenario, named sN_what.py, exposing ID, TITLE and run(ctx) -> ScenarioResult."""
