import builtins

dict, list, tuple, isinstance, type = (
    builtins.dict,
    builtins.list,
    builtins.tuple,
    builtins.isinstance,
    builtins.type,
)
