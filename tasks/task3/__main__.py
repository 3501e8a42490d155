from tasks.task3 import task

raise SystemExit(task.main())
