# Rewrites a kernels/*.cu source into C++ that the CPU emulator (shim/) compiles with g++,
# at build time, so test_cuda_emulated always runs the current kernel sources:
#   kernel<<<grid, block[, smem[, stream]]>>>(args);
#     -> ::emu::launch("kernel", ::emu::make_cfg(grid, block[, smem[, stream]]), kernel, args);
#   extern __shared__ T name[];  ->  T* name = ::emu::dynamic_shared<T>();
#   __shared__ T name[n];        ->  the same, then ::emu::register_shared(&name, sizeof(name));
# Nothing else changes: line breaks are kept and a #line directive maps diagnostics and
# debug info back to the .cu file. The namespace lumen::cuda becomes lumen::cuda_emu so
# that the emulated kernels never collide with lumen_kernels in one link.
#
# Usage: cmake -DIN=kernels/gemv.cu -DOUT=generated/gemv_emu.cpp -P rewrite_launches.cmake
cmake_minimum_required(VERSION 3.20)

if(NOT IN OR NOT OUT)
  message(FATAL_ERROR "rewrite_launches.cmake: pass -DIN=<file.cu> -DOUT=<file.cpp>")
endif()
file(READ "${IN}" src)

# Dynamic shared memory.
string(REGEX REPLACE
  "extern[ \t]+__shared__[ \t]+([A-Za-z_][A-Za-z0-9_:]*)[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*\\[[ \t]*\\][ \t]*;"
  "\\1* \\2 = ::emu::dynamic_shared<\\1>();" src "${src}")
if(src MATCHES "extern[ \t\r\n]+__shared__")
  message(FATAL_ERROR "${IN}: an extern __shared__ declaration the rewrite does not understand "
                      "(expected `extern __shared__ T name[];`)")
endif()

# Static shared memory: `__shared__ T name[...];` stays (a static, see shim/cuda_runtime.h)
# and registers itself on the same line, so that the emulator poisons it at each CTA's
# start: a CTA reading shared memory it never wrote sees NaNs, not the previous CTA's data.
string(REGEX REPLACE
  "(__shared__[ \t]+[^;=(){}]*[^;=(){} \t][ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*([[][^]]*[]][ \t]*)*;)"
  "\\1 ::emu::register_shared(&\\2, sizeof(\\2));" src "${src}")
string(REGEX REPLACE "//[^\n]*" "" code "${src}")  # comments may mention __shared__
string(REGEX MATCHALL "__shared__" declared "${code}")
string(REGEX MATCHALL "::emu::register_shared\\(" registered "${code}")
list(LENGTH declared n_declared)
list(LENGTH registered n_registered)
if(NOT n_declared EQUAL n_registered)
  message(FATAL_ERROR "${IN}: ${n_declared} __shared__ declarations but ${n_registered} understood "
                      "(expected `__shared__ T name[dims];`): extend rewrite_launches.cmake")
endif()

# Launches. The kernel expression runs from the end of the previous statement (the last
# ';', '{' or '}') to the '<<<'; the arguments are the parenthesized list after '>>>'.
set(out "")
set(rest "${src}")
set(launches 0)
while(TRUE)
  string(FIND "${rest}" "<<<" open)
  if(open EQUAL -1)
    break()
  endif()
  string(SUBSTRING "${rest}" 0 ${open} head)
  string(FIND "${head}" ";" p1 REVERSE)
  string(FIND "${head}" "{" p2 REVERSE)
  string(FIND "${head}" "}" p3 REVERSE)
  set(start ${p1})
  foreach(p ${p2} ${p3})
    if(p GREATER start)
      set(start ${p})
    endif()
  endforeach()
  math(EXPR kstart "${start} + 1")
  string(SUBSTRING "${head}" 0 ${kstart} before)
  string(SUBSTRING "${head}" ${kstart} -1 kernel_ws)
  string(STRIP "${kernel_ws}" kernel)
  string(FIND "${kernel_ws}" "${kernel}" kpos)
  string(LENGTH "${kernel}" klen)
  math(EXPR kend "${kpos} + ${klen}")
  string(SUBSTRING "${kernel_ws}" 0 ${kpos} lead)
  string(SUBSTRING "${kernel_ws}" ${kend} -1 trail)
  if(NOT kernel MATCHES "^[A-Za-z_][A-Za-z0-9_:<>, ()\t\r\n]*$")
    message(FATAL_ERROR "${IN}: cannot parse the kernel of launch ${launches}: `${kernel}`")
  endif()
  string(REGEX REPLACE "[ \t\r\n]+" " " kernel_name "${kernel}")

  math(EXPR cfg_start "${open} + 3")
  string(SUBSTRING "${rest}" ${cfg_start} -1 after)
  string(FIND "${after}" ">>>" close)
  if(close EQUAL -1)
    message(FATAL_ERROR "${IN}: `<<<` without `>>>` in the launch of ${kernel_name}")
  endif()
  string(SUBSTRING "${after}" 0 ${close} cfg)
  math(EXPR args_start "${close} + 3")
  string(SUBSTRING "${after}" ${args_start} -1 after)
  string(REGEX MATCH "^[ \t\r\n]*\\(" paren "${after}")
  if(paren STREQUAL "")
    message(FATAL_ERROR "${IN}: no argument list after the launch of ${kernel_name}")
  endif()
  string(LENGTH "${paren}" i)
  string(LENGTH "${after}" n)
  set(depth 1)
  while(depth GREATER 0)
    if(NOT i LESS n)
      message(FATAL_ERROR "${IN}: unbalanced parentheses in the launch of ${kernel_name}")
    endif()
    string(SUBSTRING "${after}" ${i} 1 ch)
    if("${ch}" STREQUAL "(")
      math(EXPR depth "${depth} + 1")
    elseif("${ch}" STREQUAL ")")
      math(EXPR depth "${depth} - 1")
    endif()
    math(EXPR i "${i} + 1")
  endwhile()
  string(LENGTH "${paren}" args_begin)
  math(EXPR args_len "${i} - 1 - ${args_begin}")
  string(SUBSTRING "${after}" ${args_begin} ${args_len} args)
  string(SUBSTRING "${after}" ${i} -1 rest)
  string(STRIP "${args}" args_stripped)
  if(NOT args_stripped STREQUAL "")
    set(args ", ${args}")
  endif()
  string(APPEND out "${before}${lead}::emu::launch(\"${kernel_name}\", ::emu::make_cfg(${cfg}), ${kernel}${trail}${args})")
  math(EXPR launches "${launches} + 1")
endwhile()
string(APPEND out "${rest}")

file(WRITE "${OUT}.tmp"
  "// Generated at build time from ${IN}\n"
  "// by tests/cuda_emulation/rewrite_launches.cmake (${launches} launches rewritten). Do not edit.\n"
  "#include \"cuda_bf16.h\"\n"
  "#define cuda cuda_emu\n"
  "#line 1 \"${IN}\"\n"
  "${out}")
file(RENAME "${OUT}.tmp" "${OUT}")
