"""The run machinery every command shares: flags and the command line (`cli`), results
folders (`runs`), atomic writes (`io`), reports and plots, threads and seeds (`env`), the
quiet TensorFlow import (`tf_quiet`) and the one user-error type (`errors`)."""
