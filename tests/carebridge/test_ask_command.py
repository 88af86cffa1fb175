from carebridge.cli import main
from warehouse.questions import list_questions


def test_ask_lists_the_ten_questions(capsys):
    assert main(["ask", "list"]) == 0
    printed = capsys.readouterr().out
    assert all(q.name in printed for q in list_questions()) and len(list_questions()) == 10


def test_ask_prints_an_answer_as_a_table(duckdb_run, capsys):
    assert main(["ask", "q03", "--warehouse", duckdb_run.warehouse_url]) == 0
    printed = capsys.readouterr().out
    assert "service_type_code" in printed and "median_days" in printed
    assert "Talking Therapies" in printed


def test_ask_an_unknown_question_is_a_clear_error(capsys):
    assert main(["ask", "q99"]) == 2
    assert "no question named 'q99'" in capsys.readouterr().err
