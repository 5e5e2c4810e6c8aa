using System.Reflection;

namespace MeasureApp.Bench.Load;

/// <summary>Finds the <see cref="ILoadScenario"/> implementations of this assembly by name.</summary>
public static class LoadScenarios
{
    /// <summary>All scenarios, sorted by name.</summary>
    public static IReadOnlyList<ILoadScenario> All() =>
    [
        .. typeof(LoadScenarios).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(ILoadScenario).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (ILoadScenario)Activator.CreateInstance(t)!)
            .OrderBy(s => s.Name, StringComparer.Ordinal),
    ];

    /// <summary>The scenario called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static ILoadScenario? Find(string name) =>
        All().FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}
