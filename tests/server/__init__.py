"""Tests of the MCP layer. ALL_TOOLS is the tool surface every transport must list."""

ALL_TOOLS = {
    "monitor_repo",
    "chunk_data",
    "index_repo",
    "rag_search",
    "trigger_training",
    "training_status",
    "cancel_training",
    "resume_training",
    "plan_training",
    "validate_model",
    "deploy_model",
    "rollback_model",
    "run_cycle",
}
