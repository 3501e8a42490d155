from tasks.task4 import task

raise SystemExit(task.main())
