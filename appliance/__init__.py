"""Private-document RAG appliance."""
