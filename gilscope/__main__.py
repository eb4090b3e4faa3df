from gilscope.cli import main

raise SystemExit(main())
