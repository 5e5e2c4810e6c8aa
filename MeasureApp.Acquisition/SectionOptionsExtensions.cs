using MeasureApp.Acquisition;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>The one way a configuration section becomes options.</summary>
public static class SectionOptionsExtensions
{
    /// <summary>
    /// Binds <typeparamref name="T"/> to <paramref name="section"/> and validates it when the host starts
    /// with a <see cref="SectionValidator{T}"/>: a bad value stops the start with a sentence naming its key.
    /// </summary>
    /// <typeparam name="T">Options type.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="section">Configuration section, e.g. <c>Limits</c> or <c>Storage:Spool</c>.</param>
    /// <param name="rules">Rules across fields (see <see cref="SectionValidator{T}"/>).</param>
    public static OptionsBuilder<T> AddSectionOptions<T>(this IServiceCollection services, string section, Func<T, IEnumerable<string?>>? rules = null)
        where T : class
    {
        services.AddSingleton<IValidateOptions<T>>(new SectionValidator<T>(section, rules));
        return services.AddOptions<T>().BindConfiguration(section).ValidateOnStart();
    }
}
