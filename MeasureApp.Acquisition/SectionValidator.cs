using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Options;

namespace MeasureApp.Acquisition;

/// <summary>
/// The one validator of a configuration section. It checks the data-annotation attributes of the
/// options (into <see cref="ValidateObjectMembersAttribute"/> and <see cref="ValidateEnumeratedItemsAttribute"/>
/// members) and the section's own rules across fields; every failure is one sentence that starts with
/// the full key, which is what an operator searches appsettings.json for, and states the value given
/// ("Security:RegistrationsPerHour must be between 1 and 10000 (got 0).").
/// </summary>
/// <remarks>
/// Reflection rather than the <c>[OptionsValidator]</c> source generator: the generator drops a
/// <see cref="RangeAttribute"/>'s <c>ErrorMessage</c> (dotnet/runtime#123137), so operators read
/// "The field SecurityOptions.RegistrationsPerHour must be…" instead of the key. Validation runs once at start.
/// </remarks>
/// <typeparam name="T">Options type.</typeparam>
/// <param name="section">Configuration section the options are bound from.</param>
/// <param name="rules">Rules the attributes cannot say (one field against another); each yields sentences naming the key, or nulls.</param>
public sealed class SectionValidator<T>(string section, Func<T, IEnumerable<string?>>? rules = null) : IValidateOptions<T>
    where T : class
{
    /// <summary>The section these options are bound from.</summary>
    public string Section => section;

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, T options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        Check(section, options, problems);
        if (rules is not null)
        {
            problems.AddRange(rules(options).OfType<string>());
        }
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    private static void Check(string path, object options, List<string> problems)
    {
        foreach (var property in options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0)
            {
                continue;
            }
            var attributes = property.GetCustomAttributes<ValidationAttribute>().ToList();
            var nested = property.IsDefined(typeof(ValidateObjectMembersAttribute));
            var items = property.IsDefined(typeof(ValidateEnumeratedItemsAttribute));
            if (attributes.Count == 0 && !nested && !items)
            {
                continue; // Nothing to check; computed properties are not even read.
            }
            var key = $"{path}:{property.Name}";
            var value = property.GetValue(options);
            if (attributes.FirstOrDefault(a => !a.IsValid(value)) is { } failed)
            {
                problems.Add(Sentence(key, failed, value));
                continue;
            }
            if (nested && value is not null)
            {
                Check(key, value, problems);
            }
            if (items && value is IEnumerable list and not string)
            {
                var index = 0;
                foreach (var item in list)
                {
                    if (item is not null)
                    {
                        Check($"{key}:{index}", item, problems);
                    }
                    index++;
                }
            }
        }
    }

    // Values are echoed only for ranges (numbers and times); a string may be a secret, so only its length is.
    // An attribute's own sentence is kept, its leading key (written with N for a list index) made exact.
    private static string Sentence(string key, ValidationAttribute attribute, object? value) => attribute switch
    {
        RangeAttribute range => string.Create(CultureInfo.InvariantCulture, $"{key} must be between {range.Minimum} and {range.Maximum} (got {value})."),
        { ErrorMessage: { } own } when own.IndexOf(' ', StringComparison.Ordinal) is > 0 and var space
            && own[..space].EndsWith(key[(key.LastIndexOf(':') + 1)..], StringComparison.Ordinal) && own[..space].Contains(':', StringComparison.Ordinal) => key + own[space..],
        RequiredAttribute => $"{key} is required.",
        MinLengthAttribute min when value is string text => $"{key} needs at least {min.Length} characters (got {text.Length}).",
        _ => attribute.FormatErrorMessage(key),
    };
}
