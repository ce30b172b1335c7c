# qsweep-analyze (analysis/): the seed report reproduced from the seed's own table,
# several batch sizes, failed cells, missing baselines, refusals, and the SVG charts
# (well-formed XML; rendered by headless Chromium, skipped where it is not installed).
if(TARGET qsweep-analyze)
  set(QA_HELPERS analysis/seed_table.c analysis/test_util.c)
  foreach(t test_analysis_seed test_analysis_cases)
    qs_add_test(NAME ${t} SOURCES ${t}.c ${QA_HELPERS} LABELS unit analysis
                ARGS $<TARGET_FILE:qsweep-analyze> TIMEOUT 120)
    target_link_libraries(${t} PRIVATE qsweep_analysis)
    add_dependencies(${t} qsweep-analyze)
  endforeach()

  # writes the seed table (or a mixed variant) into a results file for the chart tests
  add_executable(qa_write_seed analysis/write_seed.c analysis/seed_table.c)
  target_link_libraries(qa_write_seed PRIVATE qsweep_core)
  target_include_directories(qa_write_seed PRIVATE ${QS_TEST_DIR})

  foreach(mode xml render)
    add_test(NAME test_analysis_svg_${mode}
             COMMAND sh ${QS_TEST_DIR}/analysis/render_svg.sh ${mode}
                     $<TARGET_FILE:qsweep-analyze> $<TARGET_FILE:qa_write_seed>)
    set_tests_properties(test_analysis_svg_${mode} PROPERTIES LABELS "unit;analysis"
                         SKIP_RETURN_CODE 77 TIMEOUT 900)
  endforeach()

  # --html of a real 2-batch-size CPU sweep with an injected failure, and --compare
  # --html: ids, heatmaps, panels, failed cells, self-contained, weight-byte memory
  # reductions (structure); headless Chromium screenshot and DOM (render, skipped only
  # where Chromium is not installed). mpi: qsweep run starts MPI.
  if(TARGET qsweep)
    string(REPLACE ";" " " QA_MPIEXEC_STR "${QS_MPIEXEC}")
    foreach(mode structure render)
      add_test(NAME test_analysis_html_${mode}
               COMMAND sh ${QS_TEST_DIR}/analysis/render_html.sh ${mode}
                       $<TARGET_FILE:qsweep> $<TARGET_FILE:qsweep-analyze>)
      set_tests_properties(test_analysis_html_${mode} PROPERTIES LABELS "analysis;mpi"
                           SKIP_RETURN_CODE 77 TIMEOUT 600
                           ENVIRONMENT "${QS_MPI_ENV};QSWEEP_MPIEXEC=${QA_MPIEXEC_STR};QS_FIXTURE_DIR=${QS_FIXTURE_DIR}")
    endforeach()
  endif()
endif()

# The roofline on a synthetic run (known FLOPs, latency, bytes and ceilings: known rates,
# shares, intensities and roofs) in memory, through a results file and in every output;
# and the activation estimate of ViT-B/16 by hand.
if(TARGET qsweep-analyze)
  qs_add_test(NAME test_roofline SOURCES test_roofline.c analysis/test_util.c LABELS unit analysis
              ARGS $<TARGET_FILE:qsweep-analyze> TIMEOUT 120)
  target_link_libraries(test_roofline PRIVATE qsweep_analysis)
  add_dependencies(test_roofline qsweep-analyze)
endif()
