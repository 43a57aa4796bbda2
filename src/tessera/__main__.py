from tessera.cli.main import main

raise SystemExit(main())
