from finirace.cli import main

raise SystemExit(main())
