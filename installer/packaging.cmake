# The install layout and the Debian package, included by the top-level CMakeLists.txt
# after the targets. `bash installer/build-deb.sh` builds the package with `cpack -G DEB`.
#   bin/lumen, bin/lumen-cli                          (install(TARGETS) in app/CMakeLists.txt)
#   share/applications/lumen.desktop, share/icons/hicolor/scalable/apps/lumen.svg
#   share/lumen/vocab/    the vocabularies of `lumen-cli synth`'s presets (engine/model/synth.cpp)
#   share/lumen/fetch-model.sh   fetches the default model that `lumen` opens (it needs python3-pip)
#   share/doc/lumen/      README.md and docs/
# The package built without CUDA is `lumen` and depends on Debian 12 packages only. Built
# with CUDA it is `lumen-cuda` (same files, so it replaces `lumen`): its binaries also need
# cuBLAS of the CUDA toolkit they were built with, which Debian does not ship.
include(GNUInstallDirs)

# ---------------------------------------------------------------- installed files
if(LUMEN_GUI)
  install(FILES ${PROJECT_SOURCE_DIR}/resources/lumen.desktop DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
  install(FILES ${PROJECT_SOURCE_DIR}/resources/lumen.svg
          DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
endif()
set(LUMEN_PRESET_VOCABS ggml-vocab-llama-spm.gguf ggml-vocab-llama-bpe.gguf ggml-vocab-qwen2.gguf
    ggml-vocab-starcoder.gguf README.md)
list(TRANSFORM LUMEN_PRESET_VOCABS PREPEND ${PROJECT_SOURCE_DIR}/tests/data/tokenizer/)
install(FILES ${LUMEN_PRESET_VOCABS} DESTINATION ${CMAKE_INSTALL_DATADIR}/lumen/vocab)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/installer/fetch-model.sh DESTINATION ${CMAKE_INSTALL_DATADIR}/lumen)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/lumen)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/lumen)

# ---------------------------------------------------------------- the package
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME lumen)
set(CPACK_PACKAGE_VENDOR Lumen)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "LLM inference workstation (Qt 6) and the lumen-cli tool")
set(CPACK_PACKAGE_DESCRIPTION
    "Lumen runs GGUF and llama2.c language models on the CPU and shows what the engine does:
the KV-cache map, latency plots, quantization and decoding panels. lumen-cli exposes it all.")
set(CPACK_PACKAGE_CONTACT "Lumen maintainers <maintainers@users.noreply.h-seed-14dfec67.example>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# Qt loads these as plugins, and fonts at run time, so the ELF files do not name them.
if(LUMEN_GUI)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libqt6sql6-sqlite, libqt6svg6, fonts-dejavu-core")
endif()
set(CPACK_DEBIAN_PACKAGE_SUGGESTS python3-pip)
# The linked libraries' packages (Qt, QCustomPlot, sentencepiece, ICU, libstdc++) come from
# dpkg-shlibdeps (dpkg-dev), with the versions the binaries need.
find_program(LUMEN_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(LUMEN_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(WARNING "dpkg-shlibdeps (dpkg-dev) not found: the .deb will not declare its shared-library dependencies")
endif()

if(LUMEN_HAVE_CUDA)
  find_package(CUDAToolkit REQUIRED)
  set(CPACK_PACKAGE_NAME lumen-cuda)
  set(CPACK_DEBIAN_PACKAGE_PROVIDES lumen)
  set(CPACK_DEBIAN_PACKAGE_CONFLICTS lumen)
  set(CPACK_DEBIAN_PACKAGE_REPLACES lumen)
  # NVIDIA's apt repository names cuBLAS so; a toolkit from the runfile works as well.
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libcublas-${CUDAToolkit_VERSION_MAJOR}-${CUDAToolkit_VERSION_MINOR}")
  # cuBLAS belongs to no Debian package, so dpkg-shlibdeps leaves it out (CPack passes
  # --ignore-missing-info). The binaries look for it in the toolkit's folder (RUNPATH), which
  # ld.so.conf does not list after a runfile install.
  set_property(TARGET lumen-cli PROPERTY INSTALL_RPATH ${CUDAToolkit_LIBRARY_DIR})
  if(LUMEN_GUI)
    set_property(TARGET lumen PROPERTY INSTALL_RPATH ${CUDAToolkit_LIBRARY_DIR})
  endif()
endif()
include(CPack)
