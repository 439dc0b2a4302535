/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * generator.h - internals of the generator that tests use. The generator
 * (generator.c) is built from the parameters (params.h), guidance
 * (guidance.h) and the model's family (arch.h); it runs exactly these,
 * chunk after chunk. Not part of the public API.
 */
#ifndef ST2V_GENERATOR_H
#define ST2V_GENERATOR_H

#include "arch.h"
#include "guidance.h"
#include "params.h"
#include "st2v.h"

#endif /* ST2V_GENERATOR_H */
