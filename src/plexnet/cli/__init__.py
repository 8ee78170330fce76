"""cli — the ``plexnet`` command (typer + rich); imports heavy layers only inside commands.

Modules:
    main (main.py)                       — the app, global options, error-to-exit-code handling
    workspace (workspace.py)             — Workspace: settings, keystore, blobs, ledger of a home
    output (output.py)                   — printing: tables for people, JSON with --json
    id_commands (id_commands.py)         — plexnet id new|show|list
    blob_commands (blob_commands.py)     — plexnet blob put|get
    ledger_commands (ledger_commands.py) — plexnet ledger init|head|show|prove|verify|balances|
                                           mint|transfer
    network_commands (network_commands.py) — plexnet network up|down|status, provider
                                           join|leave|list|show
    job_commands (job_commands.py)       — plexnet job quote|submit|status|list|cancel|logs
    data_commands (data_commands.py)     — plexnet data ingest|admit|gate|gates|list|show|report|
                                           contributors|prove|check|lineage|export|augment|
                                           synthesize
    model_commands (model_commands.py)   — plexnet model list|show|lineage: the registry
    simulate_command (simulate_command.py) — plexnet simulate: market simulation on real traces
    serve_command (serve_command.py)     — plexnet serve: the HTTP model server
    demo (demo.py)                       — plexnet demo: the end-to-end story
    demo_models (demo_models.py)         — the demo's ending: distil, promote, serve at the
                                           edge, route, verify every model's lineage
    demo_tiers (demo_tiers.py)           — the demo's L0 -> L1 -> L2 chain: fine-tuned for an
                                           industry, then for one customer
"""

__all__: list[str] = []
