from forge_mcp.index.tokens import code_tokens, stem


def test_identifiers_are_split_and_kept_whole() -> None:
    assert code_tokens("parseHTTPResponse_v2") == ["parsehttpresponse_v2", "pars", "http", "respons"]
    assert code_tokens("JSONDecoder raw_bytes") == ["jsondecoder", "json", "decoder", "raw_byt", "raw", "byt"]


def test_stemming_meets_prose_and_code() -> None:
    assert {stem(w) for w in ("parse", "parses", "parsing", "parsed")} == {"pars"}
    assert stem("entries") == "entry" and stem("class") == "class" and stem("is") == "is"
    assert "the" not in code_tokens("Return the value of self")
