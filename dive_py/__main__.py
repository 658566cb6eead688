from dive_py.cli import main

raise SystemExit(main())
