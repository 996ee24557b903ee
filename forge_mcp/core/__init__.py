"""The foundation every stage stands on: config, errors, repository roots, the state folder and its store."""
