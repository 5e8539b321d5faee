from aha.cli import main

raise SystemExit(main())
