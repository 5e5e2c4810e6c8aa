using MeasureApp.Acquisition.Measurements;
using MeasureApp.Identity;
using MeasureApp.Tests.Security;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Infrastructure;

/// <summary>
/// bUnit tests of a component against the real services of an app on a fresh SQLite database: the shared
/// MudBlazor setup, the app (disposed with the test), its services handed to the component, a signed-in user.
/// </summary>
public abstract class AppComponentTestContext : MudTestContext
{
    /// <summary>How long a rendered component may take to show what the services answered.</summary>
    protected static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    /// <summary>The app whose services the component uses.</summary>
    protected AppFactory Factory { get; } = new(DatabaseProvider.Sqlite);

    /// <summary>Hands the app's <typeparamref name="T"/> to the component and returns it.</summary>
    protected T Provide<T>() where T : class
    {
        var service = Factory.Services.GetRequiredService<T>();
        Context.Services.AddSingleton(service);
        return service;
    }

    /// <summary>The component runs for <paramref name="who"/> (its <see cref="CurrentUser"/>).</summary>
    protected void SignIn(Requester who)
    {
        ArgumentNullException.ThrowIfNull(who);
        Context.Services.AddSingleton(new CurrentUser(new TestPrincipal(who.UserId, who.UserName, who.IsAdmin)));
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Factory.Dispose();
    }
}
