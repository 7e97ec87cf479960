def resume(lab):
    pass
