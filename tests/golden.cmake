# Golden tests: the CPU reference against fixtures made by HF transformers
# (tests/fixtures/make_fixtures.py). One test per fixture directory.
add_executable(test_golden ${QS_TEST_DIR}/test_golden.c)
target_link_libraries(test_golden PRIVATE qsweep_core)
target_include_directories(test_golden PRIVATE ${QS_TEST_DIR})
file(GLOB QS_GOLDEN_FIXTURES LIST_DIRECTORIES true ${QS_FIXTURE_DIR}/tiny/* ${QS_FIXTURE_DIR}/full/*)
foreach(dir ${QS_GOLDEN_FIXTURES})
  if(IS_DIRECTORY ${dir} AND EXISTS ${dir}/fixture.json)
    get_filename_component(name ${dir} NAME)
    get_filename_component(kind_dir ${dir} DIRECTORY)
    get_filename_component(kind ${kind_dir} NAME)
    add_test(NAME golden_${kind}_${name} COMMAND test_golden ${dir})
    set_tests_properties(golden_${kind}_${name} PROPERTIES LABELS "golden" TIMEOUT 600)
  endif()
endforeach()
# The ViTModel head is chosen from the weights present (pooler or CLS), as HF does.
add_test(NAME golden_head_from_weights COMMAND bash ${QS_TEST_DIR}/head_from_weights.sh ${CMAKE_BINARY_DIR} ${QS_FIXTURE_DIR})
set_tests_properties(golden_head_from_weights PROPERTIES LABELS "golden" TIMEOUT 300)
# --image-size: a checkpoint at another resolution, against HF's interpolate_pos_encoding.
add_test(NAME golden_image_size COMMAND bash ${QS_TEST_DIR}/image_size.sh $<TARGET_FILE:qsweep> ${QS_FIXTURE_DIR})
set_tests_properties(golden_image_size PROPERTIES LABELS "golden" TIMEOUT 300)
