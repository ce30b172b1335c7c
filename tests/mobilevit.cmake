# MobileViT: tensor list, parameter counts, convolutional operators and the CPU forward.
qs_add_test(NAME test_mobilevit SOURCES test_mobilevit.c LABELS unit)
