"""The command line over the same functions the tools call: serve, cycle, status, chunk, index, search, train, validate, deploy, doctor, install-skills."""
