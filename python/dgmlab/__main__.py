from dgmlab.cli import main

raise SystemExit(main())
