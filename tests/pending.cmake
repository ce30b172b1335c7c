# The parked CUDA patches (kernels/pending/) still apply to the tree.
add_test(NAME pending_patches_apply COMMAND bash ${QS_TEST_DIR}/pending_patches.sh)
set_tests_properties(pending_patches_apply PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77)
