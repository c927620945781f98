// Entry point of the `se` command line: train, eval, bench, info, models. Errors a user can fix print one line
// ("se: error: ...") and exit with code 2; nothing prints a stack trace for a bad option or a missing file.
using SeFramework.Train.Cli;

return Commands.Run(args);
