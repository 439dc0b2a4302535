# SPDX-License-Identifier: LGPL-2.1-or-later
"""scripts/st2v-convert, the installed .pth converter (a script, so no .py),
as a module for the tests and the fixture writers: `convert_pth` is the
script's module; tensor_bytes, write_safetensors and convert its parts."""
import importlib.machinery
import importlib.util
import os

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                    "st2v-convert")
_loader = importlib.machinery.SourceFileLoader("st2v_convert", PATH)
convert_pth = importlib.util.module_from_spec(importlib.util.spec_from_loader("st2v_convert",
                                                                              _loader))
_loader.exec_module(convert_pth)
tensor_bytes, write_safetensors, convert = (convert_pth.tensor_bytes,
                                            convert_pth.write_safetensors, convert_pth.convert)
