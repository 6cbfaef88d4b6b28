// PGTHAW_ASSIGN_OR_RETURN(lhs, expr): `lhs = value of expr` when the
// Result<T> `expr` is ok, else returns its Status from the enclosing
// function (which returns Status or some Result<U>).
#pragma once

#include <utility>

#include "common/status.h"

#define PGTHAW_ASSIGN_OR_RETURN(lhs, expr)      \
  do {                                          \
    auto _result = (expr);                      \
    if (!_result.ok()) return _result.status(); \
    lhs = std::move(_result).value();           \
  } while (0)
