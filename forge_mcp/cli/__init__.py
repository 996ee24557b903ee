"""The command line, over the same functions the tools call: serve, status, watch, events, chunk, index, search,
train, runs, validate, deploy, rollback, stop, deployments, config, doctor, skills."""
