// Entry point of the `se` command line (train, eval, bench, info, models).
return 0;
