def test_lab_restores_and_answers_ssh(lab):
    status, out, _ = lab.run("node-1", "uname -s")
    assert status == 0 and out
